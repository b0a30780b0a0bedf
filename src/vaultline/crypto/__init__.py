"""Engine-agnostic cryptographic kernels and their pure-Python references."""
