// Typesets every $$…$$ display and $…$ inline formula of the Markdown files named on the command
// line with MathJax 3 (TeX input, the packages GitHub loads), and prints one line per formula that
// fails: "file: message: formula". Exit status 1 when any fails. NODE_PATH must reach mathjax-full.
const fs = require("fs");
const {mathjax} = require("mathjax-full/js/mathjax.js");
const {TeX} = require("mathjax-full/js/input/tex.js");
const {SVG} = require("mathjax-full/js/output/svg.js");
const {liteAdaptor} = require("mathjax-full/js/adaptors/liteAdaptor.js");
const {RegisterHTMLHandler} = require("mathjax-full/js/handlers/html.js");
require("mathjax-full/js/input/tex/ams/AmsConfiguration.js");
require("mathjax-full/js/input/tex/newcommand/NewcommandConfiguration.js");
require("mathjax-full/js/input/tex/boldsymbol/BoldsymbolConfiguration.js");

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({packages: ["base", "ams", "newcommand", "boldsymbol"],
                     formatError: (jax, error) => { throw error; }});
const svg = new SVG({fontCache: "none"});
const page = mathjax.document("", {InputJax: tex, OutputJax: svg});

let failures = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  const formulas = [];
  const display = /\$\$([\s\S]+?)\$\$/g;
  let rest = text.replace(display, (_, body) => { formulas.push([body, true]); return " "; });
  const inline = /\$([^$\n]+?)\$/g;
  rest.replace(inline, (_, body) => { formulas.push([body, false]); return " "; });
  for (const [body, isDisplay] of formulas) {
    count += 1;
    try {
      const node = page.convert(body, {display: isDisplay});
      const markup = adaptor.outerHTML(node);
      if (markup.includes("data-mjx-error") || markup.includes("merror")) throw new Error("merror");
    } catch (error) {
      failures += 1;
      console.log(`${file}: ${error.message}: ${body.slice(0, 120).replace(/\n/g, " ")}`);
    }
  }
}
console.log(`typeset ${count} formulas, ${failures} failed`);
process.exit(failures ? 1 : 0);
