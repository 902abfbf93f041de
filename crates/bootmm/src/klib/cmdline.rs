//! STUB: replaced by lib/cmdline.c.
