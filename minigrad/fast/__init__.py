"""The fast layer, read last: the measured tricks behind F.conv2d, the pools, the norms, the
fused recurrent loop, and the process-wide allocator and BLAS-thread settings. Each trick is a
named helper with its measured gain.

Everything here has a textbook twin in functional/ (conv2d_reference, max_pool2d_reference,
batch_norm_reference, ...) and is property-tested equal to it, values and gradients
(tests/test_fast_equals_reference.py; the recurrent loop in tests/test_recurrent.py). Read in
this order: memory.py (the allocator), threads.py (BLAS threads), arrays.py (NumPy strided
views and per-channel passes), layout.py (channels-last memory), conv.py, pooling.py,
normalization.py, recurrent.py. The timings behind each one-line gain are in
benchmarks/README.md.
"""
