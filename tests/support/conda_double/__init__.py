"""TEST DOUBLE of the conda and mamba command-line tools, over py-rattler.

Part of hpcenv.gpu_cluster's offline test toolchain (tests/support/README.md).
It stands in for real conda 24+/mamba 2 where no conda binary or channel can be
reached; it is never shipped in the collection.
"""
