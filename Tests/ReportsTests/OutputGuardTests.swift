import Foundation
import Testing

@testable import Reports

@Test("OutputGuard: a new path passes; an existing file, a symlink to one or a dangling symlink is refused unless replaced or resumed")
func outputGuardExisting() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let existing = dir.file("r.tsv"), fresh = dir.file("new.tsv"), link = dir.file("link.tsv"), dangling = dir.file("dangling.tsv")
    try Data("keep\n".utf8).write(to: URL(fileURLWithPath: existing))
    #expect(symlink("r.tsv", link) == 0 && symlink("nowhere.tsv", dangling) == 0)
    try OutputGuard.check(outputs: [fresh], inputs: [], existing: .refuse)
    for path in [existing, link, dangling] {
        guard
            case .fileUnwritable(let p, let reason)? = reportsError({
                try OutputGuard.check(outputs: [fresh, path], inputs: [], existing: .refuse)
            })
        else { Issue.record("\(path) not refused"); continue }
        #expect(p == path && reason.contains("--force"))
        try OutputGuard.check(outputs: [path], inputs: [], existing: .replace)
        try OutputGuard.check(outputs: [path], inputs: [], existing: .resume)
    }
    #expect(try dir.read("r.tsv") == "keep\n")
}

@Test("OutputGuard: an output that is an input (by real path, through symlinks and `..`) is refused even with --force")
func outputGuardInputs() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let model = dir.file("m.safetensors")
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: model))
    #expect(symlink(model, dir.file("alias")) == 0)
    try FileManager.default.createDirectory(atPath: dir.file("sub"), withIntermediateDirectories: true)
    for output in [model, dir.file("alias"), dir.file("sub/../m.safetensors")] {
        for existing in [OutputGuard.Existing.refuse, .replace, .resume] {
            guard
                case .fileUnwritable(_, let reason)? = reportsError({
                    try OutputGuard.check(outputs: [output], inputs: [model], existing: existing)
                })
            else { Issue.record("\(output) accepted with \(existing)"); continue }
            #expect(reason.contains("is the input \(model)"))
        }
    }
    // An input that does not exist yet (a dangling symlink as output pointing at it) is still recognised.
    #expect(symlink(dir.file("later.tsv"), dir.file("to-later")) == 0)
    #expect(reportsError { try OutputGuard.check(outputs: [dir.file("to-later")], inputs: [dir.file("later.tsv")], existing: .replace) } != nil)
}

@Test("OutputGuard: /dev/null and a FIFO are named as what they are")
func outputGuardSpecialFiles() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    #expect(mkfifo(dir.file("fifo"), 0o644) == 0)
    for (path, kind) in [("/dev/null", "a character device"), (dir.file("fifo"), "a FIFO")] {
        guard case .fileUnwritable(_, let reason)? = reportsError({ try OutputGuard.check(outputs: [path], inputs: [], existing: .replace) })
        else { Issue.record("\(path) accepted"); continue }
        #expect(reason.hasPrefix("is \(kind)"))
    }
}

@Test("OutputLock: a second lock on the same output is refused naming the holder; released, it can be taken again")
func outputLockExclusive() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let out = dir.file("r.tsv")
    let first = try OutputLock(output: out)
    #expect(try dir.read("r.tsv.lock") == "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n")
    // flock locks belong to the open file description, so a second open in this process conflicts as another process would.
    guard case .fileUnwritable(let p, let reason)? = reportsError({ _ = try OutputLock(output: out) }) else {
        Issue.record("second lock taken"); return
    }
    #expect(p == out && reason.contains("another equicert (pid \(getpid()) on "))
    first.release()
    #expect(!FileManager.default.fileExists(atPath: dir.file("r.tsv.lock")))
    let second = try OutputLock(output: out)
    second.release()
}
