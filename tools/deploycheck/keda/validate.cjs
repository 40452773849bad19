// Validates KEDA custom resources against the published KEDA CRD schemas.
// stdin: a JSON list of manifests; stdout: a JSON list of [ok, message], one per manifest.
// The schemas come from @kubernetes-models/keda (MIT), generated from the CustomResourceDefinitions
// in KEDA's release manifest (see package.json); nothing here is hand-written.
"use strict";
const v1alpha1 = require("@kubernetes-models/keda/keda.sh/v1alpha1");
const source = require("@kubernetes-models/keda/package.json");

const models = {
  ScaledObject: v1alpha1.ScaledObject,
  ScaledJob: v1alpha1.ScaledJob,
  TriggerAuthentication: v1alpha1.TriggerAuthentication,
  ClusterTriggerAuthentication: v1alpha1.ClusterTriggerAuthentication,
};
const crds = (source["crd-generate"] || {}).input || [];
const origin = `${source.name} ${source.version} (${crds.map((u) => u.split("/").pop()).join(", ")})`;

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((doc) => {
    const Model = doc && doc.apiVersion === "keda.sh/v1alpha1" ? models[doc.kind] : undefined;
    if (!Model) return [false, `no KEDA schema for ${doc && doc.apiVersion} ${doc && doc.kind}`];
    try {
      new Model(doc).validate();
      return [true, `KEDA CRD schema from ${origin}`];
    } catch (err) {
      return [false, `KEDA CRD schema from ${origin}: ${err.message}`];
    }
  });
  process.stdout.write(JSON.stringify(out));
});
