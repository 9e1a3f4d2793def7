"""What SQL stores: the bounds every integer the API accepts is checked against before it reaches a query."""

# INTEGER on both backends (Postgres's is 32-bit; SQLite's 64-bit holds it too).
SQL_INT_MAX = 2**31 - 1
