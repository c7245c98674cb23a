"""Shared test settings."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Unit tests use tiny tensors: with two OpenMP threads on a busy two-core
    machine, synchronisation costs milliseconds per op, far more than the maths."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
