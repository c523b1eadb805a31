// Control-plane scenario with mediasoup's own Node library (the counterpart of
// bench/control_plane.py). Line protocol on stdin: the first line is the scenario
// (sizes, codecs, RTP parameters, capabilities) as JSON, so both sides do exactly
// the same work; each following line runs one round, answered by one JSON line on
// stdout (so the driver can interleave Node and Python rounds). The worker binary
// comes from MEDIASOUP_WORKER_BIN (installed with --ignore-scripts: no binary).
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import * as mediasoup from 'mediasoup';

// Run fn over items with at most `concurrency` calls in flight (same as the Python side).
async function pool(items, concurrency, fn) {
	const out = new Array(items.length);
	let next = 0;
	async function lane() {
		while (next < items.length) {
			const i = next++;
			out[i] = await fn(items[i]);
		}
	}
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
	return out;
}

async function runRound(sc) {
	const t0 = performance.now();
	const worker = await mediasoup.createWorker({ logLevel: 'error' });
	const phases = {};
	let t = performance.now();
	const cpu0 = process.cpuUsage();
	let cpuT = cpu0;
	const mark = (name, requests) => {
		const now = performance.now();
		const used = process.cpuUsage(cpuT);
		phases[name] = { seconds: (now - t) / 1000, requests, cpu: (used.user + used.system) / 1e6 };
		t = now;
		cpuT = process.cpuUsage();
	};
	phases.worker_start = { seconds: (t - t0) / 1000, requests: 0 };

	const router = await worker.createRouter({ mediaCodecs: sc.mediaCodecs });
	mark('router', 1);

	const idx = Array.from({ length: sc.transports }, (_, i) => i);
	const transports = await pool(idx, sc.concurrency, () =>
		router.createWebRtcTransport({ listenInfos: sc.listenInfos })
	);
	mark('transports', transports.length);

	const half = Math.floor(transports.length / 2);
	const senders = transports.slice(0, half);
	const receivers = transports.slice(half);
	const jobs = [];
	for (const tr of senders) {
		jobs.push([tr, 'audio', sc.audioRtpParameters]);
		jobs.push([tr, 'video', sc.videoRtpParameters]);
	}
	const producers = await pool(jobs, sc.concurrency, ([tr, kind, rtpParameters]) =>
		tr.produce({ kind, rtpParameters })
	);
	mark('produce', producers.length);

	const pairs = [];
	for (const tr of receivers) for (const p of producers) pairs.push([tr, p.id]);
	await pool(pairs, sc.concurrency, ([tr, producerId]) =>
		tr.consume({ producerId, rtpCapabilities: sc.rtpCapabilities, paused: true })
	);
	mark('consume', pairs.length);

	// close() is fire-and-forget on both sides: a dump round-trip proves the worker did it.
	router.close();
	await worker.dump();
	mark('close', 2);
	const cpu = process.cpuUsage(cpu0);

	const ru = await worker.getResourceUsage();
	worker.close();
	return {
		phases,
		controllerCpu: (cpu.user + cpu.system) / 1e6,
		workerCpu: (ru.ru_utime + ru.ru_stime) / 1000,
	};
}

let sc = null;
for await (const line of createInterface({ input: process.stdin })) {
	if (sc === null) sc = JSON.parse(line);
	else process.stdout.write(JSON.stringify(await runRound(sc)) + '\n');
}
