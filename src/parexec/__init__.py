"""parexec: execute blocks of Ethereum transactions in parallel, exactly as serial execution would."""

__version__ = "0.1.0"
