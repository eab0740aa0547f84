"""The only code that touches disk: walking, header reading, hashing, parquet."""
