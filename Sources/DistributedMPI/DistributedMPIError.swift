/// Errors of the MPI communicator: failed MPI calls and unusable MPI states.
public enum DistributedMPIError: Error, CustomStringConvertible, Equatable {
    /// An MPI call returned an error code (the communicator uses `MPI_ERRORS_RETURN`).
    case call(function: String, code: Int32, message: String)
    /// MPI was already initialized in this process (one `MPICommunicator` per process).
    case alreadyInitialized
    /// MPI was already finalized in this process; it cannot be initialized again.
    case alreadyFinalized
    /// The MPI library cannot provide the requested thread level.
    case insufficientThreadSupport(required: String, provided: Int32)
    /// A buffer has more elements than an MPI count (`Int32`) can describe.
    case countTooLarge(function: String, count: Int)

    public var description: String {
        switch self {
        case let .call(function, code, message):
            return "\(function) failed (MPI error \(code)): \(message)"
        case .alreadyInitialized:
            return "MPI is already initialized in this process (create one MPICommunicator per process)"
        case .alreadyFinalized:
            return "MPI was already finalized in this process and cannot be initialized again"
        case let .insufficientThreadSupport(required, provided):
            return "MPI provides thread level \(provided), below the required \(required)"
        case let .countTooLarge(function, count):
            return "\(function): \(count) elements exceed the MPI count limit \(Int32.max)"
        }
    }
}
