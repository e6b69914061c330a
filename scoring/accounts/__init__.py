"""Accounts and buying groups (ADR 041): a lead model's ``account:`` section rolls its members' engagement up to
the account they belong to, with account fit, buying-group coverage, levels with hysteresis and a trend.

The lead side (:mod:`scoring.accounts.members`) turns a lead's update into :class:`MemberUpdate` records, one per
model with an account section; the shell carries them on an internal topic keyed by account id to the account's
owner, where :class:`~scoring.accounts.engine.AccountEngine` keeps the account's state exact in event time.
"""
