# Sourced by the MPI check scripts: trains a small DEQ-S (C = 8, 256 Fashion-MNIST images, one epoch) so the checks
# have a real, deterministic checkpoint without depending on the embedded models.
#   tiny_model EQUICERT OUT.safetensors
tiny_model() {
    "$1" train --data fashion-mnist --sigma 0.25 --epochs 1 --train-limit 256 --batch 64 --warmup 2 \
        --channels 8 --groups 4 --expansion 1 --forward-steps 6 --backward-steps 4 --eval-limit 50 \
        --out "$2" > "$2.log" 2>&1 || { echo "tiny model training failed:"; tail -3 "$2.log"; return 1; }
}
