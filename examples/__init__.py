"""Sample agents. `aos up --samples` registers `support_desk/`; `escalation/` shows a `python` brain."""
