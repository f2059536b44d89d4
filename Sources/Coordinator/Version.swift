/// The equicert version written into checkpoints, manifests and `equicert info`.
public enum EquicertVersion {
    public static let string = "0.1.0"
}
