"""Tokens and passwords: the code that decides who a caller is."""
