"""Block semantics shared by every strategy: environment, validity, system changes, receipts."""
