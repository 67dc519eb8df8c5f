"""The AI factory twin: training steps and inference serving on catalogue hardware.

Pure functions of plain data (a workload spec, a hardware profile, the projection
model of :mod:`fabrictwin.model`); no I/O besides reading the workload YAML.

- :mod:`.spec`: the workload YAML (model, training, inference), strict;
- :mod:`.flops`: parameters, FLOPs per token, KV-cache bytes per token;
- :mod:`.power`: a system's power from its profile;
- :mod:`.cluster`: the GPUs of a job on a hyper-node profile, and its groups' systems;
- :mod:`.training`: step time, tokens/s, MFU, exposed communication per tier;
- :mod:`.inference`: TTFT/TPOT, throughput and goodput, PD vs colocated.
"""
