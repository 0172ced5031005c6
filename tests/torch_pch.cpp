// Anchor for the shared precompiled torch header of the tests.
