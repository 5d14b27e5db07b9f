"""Personal access tokens: long-lived, scoped, revocable credentials for programs.

models.py (the table), value.py (the token string), services.py (mint, list,
revoke), guard.py (the check token_required delegates `bks_` tokens to),
schemas.py and routes.py (blueprint "tokens", /auth/tokens).
"""
