"""The one validation, audit and transaction layer every writer goes through."""
