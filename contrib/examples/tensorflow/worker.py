"""Prints the TF_CONFIG each TensorFlow worker receives."""
import os

print(os.environ.get("TF_CONFIG", "{}"), flush=True)
