import Testing
@testable import Transformers
