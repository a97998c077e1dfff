// tus-js-client (npm) in Node against Rend's tus endpoint; one JSON line per event on stdout.
//   node tests/integration/tus_client.mjs create <endpoint> <file> <chunk-bytes> <abort-fraction>
//       starts an upload and aborts it (no termination) once that share is acknowledged:
//       {"event":"aborted","url":...,"offset":N}
//   node tests/integration/tus_client.mjs resume <upload-url> <file> <chunk-bytes>
//       continues an upload from the offset the server reports (HEAD):
//       {"event":"success","url":...,"resumedFrom":N}
// Env: REND_API_KEY (Authorization: Bearer), the only credential; never printed.
import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

const [mode, target, file, chunkArg, abortArg] = process.argv.slice(2);
const data = readFileSync(file);
const chunkSize = Number(chunkArg);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const headers = process.env.REND_API_KEY ? { Authorization: `Bearer ${process.env.REND_API_KEY}` } : {};

const options = {
  chunkSize,
  headers,
  uploadSize: data.length,
  // A restarted API answers again after a moment: retry, as a client on a bad network does.
  retryDelays: [0, 250, 500, 1000, 2000, 4000],
  metadata: { filename: 'clip.mp4', visibility: 'public', name: 'tus conformance' },
  removeFingerprintOnSuccess: true,
};

let resumedFrom = null;
if (mode === 'create') {
  options.endpoint = target;
  const stopAt = Number(abortArg) * data.length;
  let aborting = false;
  const upload = new tus.Upload(data, {
    ...options,
    onProgress: () => {},
    onChunkComplete: (_chunk, accepted) => {
      if (aborting || accepted < stopAt) return;
      aborting = true;
      upload.abort(false).then(() => {
        out({ event: 'aborted', url: upload.url, offset: accepted });
        process.exit(0);
      });
    },
    onError: (e) => {
      out({ event: 'error', message: String(e).slice(0, 500) });
      process.exit(1);
    },
    onSuccess: () => {
      out({ event: 'success_before_abort', url: upload.url });
      process.exit(1);
    },
  });
  upload.start();
} else if (mode === 'resume') {
  options.uploadUrl = target;
  const upload = new tus.Upload(data, {
    ...options,
    onUploadUrlAvailable: () => {},
    onProgress: (sent) => {
      if (resumedFrom === null) resumedFrom = sent;
    },
    onError: (e) => {
      out({ event: 'error', message: String(e).slice(0, 500) });
      process.exit(1);
    },
    onSuccess: () => {
      out({ event: 'success', url: upload.url, resumedFrom });
      process.exit(0);
    },
  });
  upload.start();
} else {
  out({ event: 'error', message: `unknown mode ${mode}` });
  process.exit(2);
}
