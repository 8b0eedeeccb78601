#!/usr/bin/env bash
# Regenerates docs/walkthrough.md: bash docs/walkthrough.sh > docs/walkthrough.md
set -u
export COLUMNS=100 NO_COLOR=1
run() { echo '```console'; echo "\$ $*"; eval "$@" 2>&1 | sed 's/[ ]*$//' | head -${LINES_MAX:-40}; echo '```'; echo; }
cd "$(dirname "$0")/.."
cnncli() { python -m cnncli "$@"; }
export -f cnncli
echo "# cnncli tensor commands: a terminal walk-through"
echo
echo "Real output (COLUMNS=100, NO_COLOR=1; long outputs trimmed), from the repository root."
echo "Regenerate with \`bash docs/walkthrough.sh > docs/walkthrough.md\`."
echo
echo "## pool: the seed's 4×4 example"
echo
LINES_MAX=30 run cnncli pool
echo "The seed prints [[5, 5], [7, 5]] for average pooling; the arithmetic gives:"
echo
LINES_MAX=40 run cnncli pool --mode avg --explain 1,0
echo "## conv: the built-in digit 8 with the Sobel pair (too wide for a table: a heat map)"
echo
LINES_MAX=30 run cnncli conv
echo "## conv: the seed's multi-channel example, one cell step by step"
echo
LINES_MAX=60 run cnncli conv samples/seed_multichannel.npz --key x -k samples/seed_multichannel.npz:weight -b 1,0 -s 2 --explain 0,1,1 --show none
echo "## conv: padding by name, a bank of kernels, the edge image"
echo
LINES_MAX=12 run cnncli conv samples/shapes.png -k sobel --magnitude -p 1,1,2,0 --pad-mode replicate --show stats
echo "## conv --grad: the seed's three gradients"
echo
LINES_MAX=50 run cnncli conv samples/seed_pool.csv -k laplacian -p 1 --grad ones --show table
echo "## conv --transpose: the transposed convolution, conv2d's dL/dX as a layer"
echo
echo "Each input cell adds its value times the kernel into the output, stride apart:"
echo
LINES_MAX=40 run cnncli conv samples/seed_pool.csv -k 1,2\;3,4 --transpose -s 2 --explain 2,3 --show table
echo "## pool --adaptive: PyTorch's bins"
echo
LINES_MAX=30 run cnncli pool samples/seed_multichannel.npz --key x --adaptive 3,2 --mode avg --channels 1 --explain 1,1,1
echo "## pad"
echo
run cnncli pad -p 1,2,0,1 --mode reflect
echo "## flatten"
echo
LINES_MAX=30 run cnncli flatten samples/seed_multichannel.npz --key x --order hwc
echo "## act"
echo
run cnncli act -f softmax --dim 3
echo "## linear"
echo
run cnncli linear --out 3 --seed 0
echo "## dropout"
echo
LINES_MAX=30 run cnncli dropout --p 0.5 --seed 1
echo "## kernels"
echo
LINES_MAX=25 run cnncli kernels
echo "## pipes and saving"
echo
run "cnncli pad samples/seed_pool.csv -p 1 -o - | cnncli conv - -k sobel-x --show none --json | head -c 300; echo"
run "cnncli conv -k sobel --show none -o /tmp/edges.png && python -c \"from PIL import Image; print(Image.open('/tmp/edges.png').size)\""
echo "## errors"
echo
run "cnncli conv -k sobl; echo exit=\$?"
run "cnncli pool missing.csv; echo exit=\$?"
run "cnncli conv samples/seed_pool.csv -k gaussian5 -s 2; echo exit=\$?"
run "cnncli pool --explain 5,0; echo exit=\$?"
