import Testing
@testable import Certification
