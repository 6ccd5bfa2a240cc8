// Times the KBV's own parser (@kbv/mioparser) on the participation-card fixtures, for the
// side-by-side comparison in run.sh. Usage: node compare.mjs DIR ROUNDS
// Prints one JSON object: the verdict per file (valid = parsed with no errors) and the mean
// time per card in microseconds.
import fs from "node:fs";
import path from "node:path";
import pkg from "@kbv/mioparser";

const MIOParser = pkg.default ?? pkg;
const [dir, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg);
const files = [];
for (const sub of ["valid", "invalid"]) {
  for (const name of fs.readdirSync(path.join(dir, sub)).sort()) {
    if (!/\.(json|xml)$/.test(name)) continue;
    files.push([`${sub}/${name}`, fs.readFileSync(path.join(dir, sub, name), "utf8")]);
  }
}
const parser = new MIOParser();
async function verdict(text) {
  try {
    const result = await parser.parseString(text);
    return result.errors.length === 0;
  } catch {
    return false; // the parser throws on some malformed input: a refusal
  }
}
const verdicts = {};
for (const [name, text] of files) verdicts[name] = await verdict(text);
const start = process.hrtime.bigint();
let valid = 0;
for (let r = 0; r < rounds; r++) {
  for (const [, text] of files) if (await verdict(text)) valid++;
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cards = rounds * files.length;
console.log(JSON.stringify({
  parser: "@kbv/mioparser " + JSON.parse(fs.readFileSync(new URL("./node_modules/@kbv/mioparser/package.json", import.meta.url))).version,
  cards, valid, seconds, us_per_card: (seconds * 1e6) / cards, verdicts,
}));
