"""Validation: the data gate every delivery passes (GX checks of the spec's contract), where it
goes (raw or quarantine), and people's review of what was set aside.

``run`` holds the entry points; ``checks`` builds the contract, ``reading`` opens the file,
``expectations`` runs GX, ``evaluation`` judges, ``publishing`` moves and writes the notes,
``results`` are the verdicts, ``review`` and ``decisions`` the human side, ``learned`` the
suites profiled from the champion's training data, ``html_report`` the readable page.
"""
