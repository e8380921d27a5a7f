"""The one base class for errors a user can fix (bad path, bad file, bad option).

`run.py` prints these as a single message naming the file and the fix, without a
traceback; anything else is a bug and keeps its traceback.
"""


class SerJaxError(Exception):
    """An error whose message tells the user what is wrong and how to fix it."""
