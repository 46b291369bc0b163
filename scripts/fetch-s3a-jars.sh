#!/usr/bin/env bash
# Put hadoop-aws and the AWS SDK bundle (for Spark's s3a:// file system) into $1.
# Maven is not reachable from the build machines; the PyPI sdist of sagemaker_pyspark 1.4.5 carries
# both jars, so we download it without its dependencies (it pins an old pyspark) and extract them.
set -euo pipefail
dest="$1"
pip="${PIP:-pip}"
jars=(hadoop-aws-3.3.1.jar aws-java-sdk-bundle-1.11.901.jar)
if [ -f "$dest/${jars[0]}" ] && [ -f "$dest/${jars[1]}" ]; then exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$pip" download --quiet --no-deps --no-binary :all: sagemaker_pyspark==1.4.5 -d "$tmp"
mkdir -p "$dest"
for jar in "${jars[@]}"; do
  tar -xzf "$tmp"/sagemaker_pyspark-1.4.5.tar.gz -C "$tmp" "sagemaker_pyspark-1.4.5/deps/jars/$jar"
  mv "$tmp/sagemaker_pyspark-1.4.5/deps/jars/$jar" "$dest/$jar"
done
echo "s3a jars in $dest: ${jars[*]}"
