"""Suite-wide test settings.

One intra-op thread per test process: the models in the tests are small, and torch's
thread pool costs more than it gains on them (measured: 7 ms vs 200 ms per DeepONet step
on a loaded 2-core machine). Test code may change global state; the library never does.
"""

import torch

torch.set_num_threads(1)
