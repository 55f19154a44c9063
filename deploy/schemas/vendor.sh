#!/usr/bin/env bash
# Re-vendor the Argo Rollouts schemas from the npm package @kubernetes-models/argo-rollouts (MIT), whose
# 0.3.x releases carry, as JavaScript object literals, the openAPIV3Schema of the Rollout and AnalysisTemplate
# CRDs of Argo Rollouts v1.5.0 (the release's install.yaml). Needs npm and node; run only to refresh:
# the check itself reads the committed JSON and needs no network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package="@kubernetes-models/argo-rollouts@${ARGO_MODELS_VERSION:-0.3.2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" > /dev/null && tar xzf ./*.tgz)
for kind in Rollout AnalysisTemplate; do
  out="$here/$(echo "$kind" | tr '[:upper:]' '[:lower:]')-argoproj-v1alpha1.json"
  node - "$work/package/argoproj.io/v1alpha1/$kind.js" "$out" "$package" <<'JS'
const fs = require("fs");
const [source, out, pkg] = process.argv.slice(2);
const text = fs.readFileSync(source, "utf8");
const start = text.indexOf("const schema = ") + "const schema = ".length;
const end = text.indexOf("\n};\n", start) + 2;
const schema = JSON.parse(text.slice(start, end));
const comment = `Vendored from the npm package ${pkg} (argoproj.io/v1alpha1/${source.split("/").pop()}), ` +
  "generated there from the Argo Rollouts v1.5.0 CRD openAPIV3Schema; refresh with deploy/schemas/vendor.sh.";
fs.writeFileSync(out, JSON.stringify({ $comment: comment, ...schema }, null, 1) + "\n");
JS
  echo "wrote $out"
done
