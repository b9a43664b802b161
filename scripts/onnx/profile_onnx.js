#!/usr/bin/env node
// The ONNX Runtime half of scripts/profile/inference.py: runs an ONNX file on zero images of
// N x 3 x SIDE x SIDE in ONNX Runtime (CPU, all graph optimisations, THREADS intra-op threads),
// RUNS times after 5 warm-up runs, with ONNX Runtime's own profiler on, and prints one JSON
// object: {"ms_per_run": median wall time, "ops": {op type: milliseconds per run}}, from the
// profiler's "Node" events of the timed runs.
//
//   profile_onnx.js NET.onnx N SIDE THREADS RUNS WORK_DIR
"use strict";
const fs = require("fs");
const path = require("path");

const WARM_UPS = 5;

async function main() {
  const [model, batch, side, threads, runs, work] = process.argv.slice(2);
  if (work === undefined) {
    process.stderr.write("usage: profile_onnx.js NET.onnx N SIDE THREADS RUNS WORK_DIR\n");
    process.exit(2);
  }
  const ort = require("onnxruntime-node");
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionProviders: ["cpu"],
    enableProfiling: true,
    profileFilePrefix: path.join(work, "ort_profile"),
  });
  const dims = [Number(batch), 3, Number(side), Number(side)];
  const input = new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  const feeds = {[session.inputNames[0]]: input};
  for (let i = 0; i < WARM_UPS; ++i) await session.run(feeds);
  const walls = [];
  for (let i = 0; i < Number(runs); ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    walls.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  session.endProfiling();
  const files = fs.readdirSync(work).filter((f) => f.startsWith("ort_profile")).sort();
  const events = JSON.parse(fs.readFileSync(path.join(work, files[files.length - 1]), "utf8"));
  // The warm-ups come first: keep the node events of the last RUNS runs, counted by the
  // model_run events that close each run.
  const runEnds = events.filter((e) => e.name === "model_run").map((e) => e.ts + e.dur);
  const from = runEnds.length > Number(runs) ? runEnds[runEnds.length - Number(runs) - 1] : 0;
  const ops = {};
  for (const e of events) {
    if (e.cat !== "Node" || e.ts < from || !e.args || !e.args.op_name) continue;
    if (!e.name.endsWith("_kernel_time")) continue;
    ops[e.args.op_name] = (ops[e.args.op_name] || 0) + e.dur / 1000 / Number(runs);
  }
  for (const f of files) fs.unlinkSync(path.join(work, f));
  walls.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ms_per_run: walls[Math.floor(walls.length / 2)], ops}) + "\n");
}

main().catch((error) => {
  process.stderr.write(String(error.message || error) + "\n");
  process.exit(4);
});
