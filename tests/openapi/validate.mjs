// node tests/openapi/validate.mjs FILE
//
// Validates an OpenAPI document (JSON or YAML) with @apidevtools/swagger-parser:
// the OpenAPI 3.x meta-schema, then every $ref resolved. Prints one line,
// "valid: <title> <version>, OpenAPI <openapi>, <N> paths, <M> operations",
// and exits 0; or prints "invalid: <reason>" on stderr and exits 1
// (2 for a usage error). Used by tests/integration/test_openapi.py.
import SwaggerParser from "@apidevtools/swagger-parser";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async function main(argv) {
  if (argv.length !== 1) {
    console.error("usage: node validate.mjs FILE");
    return 2;
  }
  try {
    // validate() dereferences in place: keep the version from a first parse.
    const raw = await SwaggerParser.parse(argv[0]);
    const api = await SwaggerParser.validate(argv[0]);
    const paths = Object.values(api.paths || {});
    const ops = paths.reduce((n, p) => n + METHODS.filter((m) => p[m]).length, 0);
    console.log(`valid: ${raw.info.title} ${raw.info.version}, OpenAPI ${raw.openapi}, ` +
      `${paths.length} paths, ${ops} operations`);
    return 0;
  } catch (err) {
    console.error(`invalid: ${err.message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
