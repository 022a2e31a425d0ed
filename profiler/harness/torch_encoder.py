#!/usr/bin/env python3
"""inferplan exec harness: a transformer encoder in PyTorch, with random weights.

    inferplan profile --target exec:"python3 profiler/harness/torch_encoder.py --model bert-base-uncased --dtype float16"

Speaks inferplan's exec protocol (JSON lines; see profiler/exec.go): after loading the model it prints
{"ready": true, "info": {...}}; then for each request {"batch": N, "size": S} it runs one forward pass of an
N x S batch of token ids and prints {"latency_ms": T}; for {"batch": N, "size": S, "repeat_for_s": W,
"start_at_unix_ms": T0} it waits until T0 and runs back to back for W seconds, printing {"latencies_ms": [...]}.
For {"batch": N, "size": S, "input_ids": [[...], ...]} (what `inferplan workers` sends to serve real requests) it
pads each of the N rows to S with token 0, runs them with an attention mask over the padding, and prints
{"latency_ms": T, "outputs": [[...], ...]}: each row's first-token final hidden state. Token ids are taken modulo
the vocabulary (the weights are random). Logs go to stderr; stdout carries the protocol only.

Under `inferplan workers` the environment names the worker's service and model (INFERPLAN_SERVICE,
INFERPLAN_MODEL); --model defaults to INFERPLAN_MODEL when it is set.

On a GPU each forward pass is timed with CUDA events (device time, after a synchronisation); on a CPU with
time.perf_counter. The architectures are Hugging Face BERT configurations written out here, so nothing is
downloaded: with the transformers package the model is transformers.BertModel(BertConfig(...)) with random
weights (as the shared H100 profiles were measured); without it, torch.nn.TransformerEncoder of the same size.
"""
import argparse
import json
import os
import platform
import sys
import time

# Hugging Face configurations (hidden size, layers, heads, intermediate size); vocab 30522, 512 positions.
CONFIGS = {
    "bert-tiny": (128, 2, 2, 512),
    "bert-mini": (256, 4, 4, 1024),
    "distilbert-base-uncased": (768, 6, 12, 3072),
    "bert-base-uncased": (768, 12, 12, 3072),
    "bert-large-uncased": (1024, 24, 16, 4096),
}
# the names cluster plans use for these models (the shared profiles' "model" fields)
ALIASES = {"distilbert": "distilbert-base-uncased", "bert-base": "bert-base-uncased", "bert-large": "bert-large-uncased"}
VOCAB = 30522


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def build(args, torch):
    if args.config or args.model not in CONFIGS:
        # any Hugging Face encoder: a local config.json (or folder), or a hub name when the hub is reachable;
        # only the configuration is read, the weights are random
        from transformers import AutoConfig, AutoModel

        cfg = AutoConfig.from_pretrained(args.config or args.model)
        if args.layers:
            cfg.num_hidden_layers = args.layers
        model = AutoModel.from_config(cfg)
        kind = "transformers %s" % type(model).__name__

        def forward(ids, mask=None):
            return model(input_ids=ids, attention_mask=mask).last_hidden_state
        return model, forward, kind, getattr(cfg, "vocab_size", VOCAB)
    hidden, layers, heads, ff = CONFIGS[args.model]
    if args.layers:
        layers = args.layers
    try:
        from transformers import BertConfig, BertModel  # noqa: import only when present

        cfg = BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=ff, vocab_size=30522, max_position_embeddings=512)
        model = BertModel(cfg, add_pooling_layer=False)
        kind = "transformers BertModel"

        def forward(ids, mask=None):
            return model(input_ids=ids, attention_mask=mask).last_hidden_state
    except ImportError:
        emb = torch.nn.Embedding(VOCAB, hidden)
        pos = torch.nn.Embedding(512, hidden)
        layer = torch.nn.TransformerEncoderLayer(hidden, heads, ff, batch_first=True, activation="gelu")
        enc = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        model = torch.nn.ModuleList([emb, pos, enc])
        kind = "torch.nn.TransformerEncoder (transformers not installed)"

        def forward(ids, mask=None):
            p = torch.arange(ids.shape[1], device=ids.device)
            padding = None if mask is None else mask == 0  # True where a position is padding
            return enc(emb(ids) + pos(p), src_key_padding_mask=padding)
    return model, forward, kind, VOCAB


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.environ.get("INFERPLAN_MODEL") or "bert-base-uncased",
                    help="one of %s (written out here; also %s), or any Hugging Face encoder name "
                         "(default $INFERPLAN_MODEL, else bert-base-uncased)" % (", ".join(sorted(CONFIGS)), ", ".join(sorted(ALIASES))))
    ap.add_argument("--config", help="a Hugging Face config.json (or its folder): any encoder architecture, random weights")
    ap.add_argument("--layers", type=int, help="override the number of layers")
    ap.add_argument("--dtype", default="float16", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    args.model = ALIASES.get(args.model, args.model)

    import torch  # imported here so --help works without PyTorch

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype)
    if device.type == "cpu" and dtype != torch.float32:
        log("harness: half precision on a CPU is slow and unrepresentative; using float32")
        dtype = torch.float32
    model, forward, kind, vocab = build(args, torch)
    model.eval().to(device=device, dtype=dtype)

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        hardware = name.lower().replace(" ", "-")
        gpu_index = device.index if device.index is not None else 0
    else:
        hardware = (platform.processor() or platform.machine()) + "-host"
        gpu_index = None
    info = {
        "platform": "gpu" if device.type == "cuda" else "cpu",
        "hardware": hardware,
        "dtype": str(dtype).replace("torch.", ""),
        "model": os.path.basename(os.path.normpath(args.config)) if args.config else args.model,
        "size_unit": "tokens",
        "source": "inferplan harness torch_encoder.py: %s %s, %s, random weights (seed %d), inference_mode, PyTorch %s, "
                  "%s; %s timing of one forward pass" % (kind, args.model, str(dtype).replace("torch.", ""), args.seed,
                                                          torch.__version__, hardware,
                                                          "CUDA event" if device.type == "cuda" else "wall-clock"),
    }
    if device.type == "cpu":
        info["vcpus"] = torch.get_num_threads()
    if gpu_index is not None:
        info["gpu_index"] = gpu_index

    def run_once(batch, size):
        ids = torch.randint(0, 30522, (batch, size), device=device)
        with torch.inference_mode():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                forward(ids)
                end.record()
                end.synchronize()
                return start.elapsed_time(end)
            t0 = time.perf_counter()
            forward(ids)
            return (time.perf_counter() - t0) * 1000

    def serve(batch, size, rows):
        """Runs real inputs: each row padded to size and masked; returns the latency and each first-token state."""
        if len(rows) != batch:
            raise ValueError("batch %d with %d rows of input_ids" % (batch, len(rows)))
        ids = torch.zeros((batch, size), dtype=torch.long)
        mask = torch.zeros((batch, size), dtype=torch.long)
        for i, row in enumerate(rows):
            if not 1 <= len(row) <= size:
                raise ValueError("input_ids row %d has %d tokens, outside 1..%d (size)" % (i, len(row), size))
            ids[i, :len(row)] = torch.tensor([int(v) % vocab for v in row], dtype=torch.long)
            mask[i, :len(row)] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                hidden = forward(ids, mask)
                end.record()
                end.synchronize()
                ms = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                hidden = forward(ids, mask)
                ms = (time.perf_counter() - t0) * 1000
            return ms, hidden[:, 0, :].float().cpu().tolist()

    max_pos = getattr(getattr(model, "config", None), "max_position_embeddings", 512)
    info["max_size"] = max_pos
    reply({"ready": True, "info": info})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            batch, size = int(req["batch"]), int(req["size"])
            if batch < 1 or size < 1 or size > max_pos:
                raise ValueError("batch must be >= 1 and size in 1..%d, got %d x %d" % (max_pos, batch, size))
            if "input_ids" in req:
                ms, outputs = serve(batch, size, req["input_ids"])
                reply({"latency_ms": ms, "outputs": outputs})
                continue
            window = float(req.get("repeat_for_s", 0))
            if window <= 0:
                reply({"latency_ms": run_once(batch, size)})
                continue
            delay = req.get("start_at_unix_ms", 0) / 1000 - time.time()
            if delay > 0:
                time.sleep(delay)
            end = time.time() + window
            lat = []
            while time.time() < end:
                lat.append(run_once(batch, size))
            reply({"latencies_ms": lat})
        except Exception as exc:  # one failed request must not kill the harness
            reply({"error": "%s: %s" % (type(exc).__name__, exc)})


if __name__ == "__main__":
    main()
