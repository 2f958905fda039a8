"""A tiny DistributedDataParallel run: every rank trains the same model on its shard of
generated data, and at the end all ranks print the loss they agreed on.

Start it with `ptenv exec -- torchrun --nproc_per_node=N train.py` (N = 2 on a CPU, or the
number of GPUs). torchrun sets RANK, WORLD_SIZE and LOCAL_RANK for each process.
"""

import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def main() -> None:
    use_cuda = torch.cuda.is_available()
    # NCCL is the fast path between GPUs; Gloo runs on CPUs (and is what this example uses
    # on a machine without GPUs).
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)

    # The same generated data on every rank (same seed); the sampler gives each rank a shard.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 16, generator=g)
    true_w = torch.randn(16, 1, generator=g)
    y = x @ true_w + 0.01 * torch.randn(2048, 1, generator=g)
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
    # Two workers per rank: their batches travel through /dev/shm.
    loader = DataLoader(data, batch_size=64, sampler=sampler, num_workers=2)

    torch.manual_seed(0)
    model = DDP(torch.nn.Linear(16, 1).to(device), device_ids=[local_rank] if use_cuda else None)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = torch.nn.MSELoss()

    for epoch in range(5):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()  # DDP averages the gradients across ranks here
            opt.step()

    # Evaluate on the full data set; identical weights on every rank give identical losses.
    with torch.no_grad():
        final = loss_fn(model(x.to(device)), y.to(device)).item()
    backend = dist.get_backend()
    # All ranks share one stdout. print() writes the text and its newline in two calls, which
    # the other ranks' output can land between when Python runs unbuffered; so each rank writes
    # its whole line in one call, and the ranks take turns, so the lines come in rank order.
    for turn in range(world):
        if turn == rank:
            sys.stdout.write(f"rank {rank}/{world} backend={backend} final_loss={final:.6f}\n")
            sys.stdout.flush()
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
