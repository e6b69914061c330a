"""leadscore's shell: settings, Faust app factory, topics, codecs, agents, metrics, broker helper and CLI.

Importing this package has no side effects: nothing connects, nothing is created until ``create_app(settings)``.
"""
