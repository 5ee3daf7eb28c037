"""creditbook: the account and credit ledger behind a pay-as-you-go data API."""

__version__ = "0.1.0"
