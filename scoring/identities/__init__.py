"""Identities (ADR 042): anonymous ids tied to a lead (*identify*) and duplicate leads merged (*merge*). The absorbed
lead's state is merged into the survivor's exactly (:mod:`scoring.identities.merge`: the result equals scoring every
event of both under the survivor's id), and an alias sends the absorbed id's later events to the survivor.
"""
