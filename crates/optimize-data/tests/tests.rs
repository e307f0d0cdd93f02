//! Integration tests of optimize-data against files made by NumPy.
