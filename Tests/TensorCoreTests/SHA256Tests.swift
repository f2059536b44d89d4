import Foundation
import Testing

@testable import TensorCore

@Test("SHA-256 of the FIPS 180-4 examples, a million 'a's, and messages around the 55/56/64-byte padding edges")
func sha256Vectors() {
    #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(
        SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(
        SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    // Lengths 55, 56 and 64 (padding into one or two blocks), checked against sha256sum.
    #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "x"), count: 55)) == "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072")
    #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "x"), count: 56)) == "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e")
    #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "x"), count: 64)) == "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c")
}
