import fs from "node:fs"
const file = process.argv[2]
const p = JSON.parse(fs.readFileSync(file, "utf8"))
const self = new Map(), byId = new Map()
for (const n of p.nodes) byId.set(n.id, n)
const dt = p.timeDeltas; const samples = p.samples
const counts = new Map()
for (let i = 0; i < samples.length; i++) counts.set(samples[i], (counts.get(samples[i]) ?? 0) + (dt[i] ?? 0))
let total = 0
for (const [id, t] of counts) { const n = byId.get(id); const k = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + t); total += t }
console.log("total ms", Math.round(total / 1000))
console.log([...self].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, t]) => `${(t / 1000).toFixed(0).padStart(6)} ${k}`).join("\n"))
