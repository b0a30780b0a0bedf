"""Run metrics (Prometheus text, CloudWatch EMF) and alarms delivered to webhooks, email and the terminal.

`spec/models.py` imports `monitor.rules`, so this package imports nothing at import time: the lead's entry
points are `vaultline.monitor.observe.observe_run` and `vaultline.monitor.observe.check_access`.
"""
