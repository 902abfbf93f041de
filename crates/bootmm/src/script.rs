//! STUB: the script interpreter.
