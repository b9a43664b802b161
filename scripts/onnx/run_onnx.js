#!/usr/bin/env node
// `ftl export --format onnx`'s parity step, and the ONNX Runtime side of the export bench: runs
// an ONNX file in ONNX Runtime (onnxruntime-node, CPU, all graph optimisations) on float32
// batches and writes the outputs.
//
//   run_onnx.js NET.onnx IN.bin N,C,H,W[;N,C,H,W...] OUT.bin THREADS [REPEATS]
//
// (positional, as ftl passes them). IN.bin holds the batches one after another, little-endian
// float32; OUT.bin gets each batch's first output the same way. With REPEATS R > 0 each batch
// runs R more times after the first and stdout gets {"ms": [per batch: the fastest of those R
// runs' milliseconds], "median_ms": [per batch: their median]}.
// Exit status: 0 done; 3 onnxruntime-node is not installed (scripts/setup.sh installs it);
// 4 ONNX Runtime refused the model or a run failed (the last line says why).
"use strict";
const fs = require("fs");

const MISSING = 3;
const FAILED = 4;

function fail(status, message) {
  process.stderr.write(message + "\n");
  process.exit(status);
}

function parseArgs(argv) {
  if (argv.length < 5 || argv.length > 6) {
    fail(2, "usage: run_onnx.js NET.onnx IN.bin N,C,H,W[;...] OUT.bin THREADS [REPEATS]");
  }
  const [model, input, shapes, output, threads, repeats] = argv;
  return {model, input, shapes, output, threads, repeats: repeats || "0"};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require("onnxruntime-node");
  } catch (error) {
    fail(MISSING, `onnxruntime-node is not installed beside ${__dirname} (run scripts/setup.sh): ` +
         error.message.split("\n")[0]);
  }
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, {
      intraOpNumThreads: Number(args.threads),
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
      executionProviders: ["cpu"],
    });
  } catch (error) {
    fail(FAILED, `ONNX Runtime cannot load ${args.model}: ${error.message.split("\n")[0]}`);
  }
  const bytes = fs.readFileSync(args.input);
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset,
                                                     bytes.byteOffset + bytes.byteLength));
  const outputs = [];
  const ms = [];
  const medians = [];
  let offset = 0;
  for (const shape of args.shapes.split(";")) {
    const dims = shape.split(",").map(Number);
    const count = dims.reduce((a, b) => a * b, 1);
    if (offset + count > floats.length) fail(2, `${args.input} is shorter than --shapes says`);
    const input = new ort.Tensor("float32", floats.subarray(offset, offset + count), dims);
    offset += count;
    let result;
    const times = [];
    for (let run = 0; run <= Number(args.repeats); ++run) {
      const start = process.hrtime.bigint();
      try {
        result = await session.run({[session.inputNames[0]]: input});
      } catch (error) {
        fail(FAILED, `ONNX Runtime failed on a batch of ${dims[0]}: ${error.message.split("\n")[0]}`);
      }
      const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
      if (run > 0 || Number(args.repeats) === 0) times.push(elapsed);
    }
    times.sort((a, b) => a - b);
    ms.push(times[0]);
    medians.push(times[Math.floor(times.length / 2)]);
    const data = result[session.outputNames[0]].data;
    outputs.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  fs.writeFileSync(args.output, Buffer.concat(outputs));
  if (Number(args.repeats) > 0) process.stdout.write(JSON.stringify({ms, median_ms: medians}) + "\n");
}

main().catch((error) => fail(FAILED, error.message));
