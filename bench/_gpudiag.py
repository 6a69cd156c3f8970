import sys, time, warnings, torch, torch.nn.functional as F
sys.path.insert(0, "."); sys.path.insert(0, "bench")
import kinkcheck, trace_overhead as b
import torch._dynamo
from torch.profiler import profile, ProfilerActivity
warnings.simplefilter("ignore")
m = b.ResNet18().cuda(); opt = torch.optim.SGD(m.parameters(), 0.01, momentum=0.9)
x = torch.randn(64, 3, 224, 224, device="cuda"); y = torch.randint(0, 1000, (64,), device="cuda")
def step():
    opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
def t_of(n=5):
    torch.cuda.synchronize(); s = time.perf_counter()
    for _ in range(n): step()
    torch.cuda.synchronize(); return (time.perf_counter() - s) / n * 1e3
step(); print("plain", f"{t_of():.2f} ms")
with kinkcheck.trace(backends="torch") as t:
    for _ in range(3): step()
    print("traced", f"{t_of():.2f} ms", dict(torch._dynamo.utils.counters["stats"]))
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        step(); torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="device_time_total", row_limit=14, max_name_column_width=70))
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=12, max_name_column_width=70))
