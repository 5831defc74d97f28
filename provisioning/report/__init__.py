"""The auditor's report of `otap stage verify`: every run kept with junit.xml, report.json
(schema.json) and report.html; runs compared (diff), signed and checked (sign).

Imports only provisioning.stage: steps/verify and cli.py use it.
"""
