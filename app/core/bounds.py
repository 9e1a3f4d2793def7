"""What SQL stores: the bounds every integer and string the API accepts is checked against before a query."""

import re

# INTEGER on both backends (Postgres's is 32-bit; SQLite's 64-bit holds it too).
SQL_INT_MAX = 2**31 - 1
# Postgres text cannot hold NUL, and no name, id or path of this API has a control character.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # the same rule as a `pattern=` for path, query and header parameters
