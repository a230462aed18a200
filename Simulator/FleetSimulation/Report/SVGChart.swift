/// Small inline SVG charts for the self-contained HTML report: no scripts, no external files.
enum SVGChart {
    struct Series {
        var name: String
        /// One value per second; `nil` where there is none (the line breaks there).
        var points: [Double?]
        var color: String

        init(name: String, values: [Double], color: String) {
            self.init(name: name, points: values.map { $0 }, color: color)
        }

        init(name: String, points: [Double?], color: String) {
            self.name = name
            self.points = points
            self.color = color
        }
    }

    static let width = 640.0
    static let height = 220.0
    private static let left = 56.0, right = 12.0, top = 12.0, bottom = 36.0

    /// Lines over time (one point per second) with axes, a few ticks and a legend.
    static func lines(_ series: [Series], title: String, unit: String) -> String {
        let count = series.map(\.points.count).max() ?? 0
        let peak = Swift.max(series.flatMap { $0.points.compactMap { $0 } }.max() ?? 0, 1)
        let scaleTop = niceCeiling(peak)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ index: Int) -> Double { left + (count > 1 ? Double(index) / Double(count - 1) : 0) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value / scaleTop * plotHeight }
        var svg = header(title)
        svg += axes(yTicks: (0...4).map { scaleTop * Double($0) / 4 }, y: y, unit: unit)
        for tick in stride(from: 0, to: Swift.max(count, 1), by: Swift.max(1, count / 6)) {
            svg += #"<text class="tick" x="\#(format(x(tick)))" y="\#(format(height - bottom + 16))" text-anchor="middle">\#(tick) s</text>"#
        }
        for (index, line) in series.enumerated() {
            // One polyline per run of seconds with values; a lone point is a dot.
            var run: [String] = []
            func flush() {
                if run.count == 1, let point = run.first {
                    let xy = point.split(separator: ",")
                    svg += #"<circle cx="\#(xy[0])" cy="\#(xy[1])" r="1.5" fill="\#(line.color)"/>"#
                } else if run.count > 1 {
                    svg += #"<polyline fill="none" stroke="\#(line.color)" stroke-width="1.5" points="\#(run.joined(separator: " "))"/>"#
                }
                run.removeAll()
            }
            for (second, value) in line.points.enumerated() {
                if let value { run.append("\(format(x(second))),\(format(y(value)))") } else { flush() }
            }
            flush()
            // Legends four to a row.
            let legendX = left + 8 + Double(index % 4) * 140, legendY = top + 12 + Double(index / 4) * 13
            svg += #"<text class="legend" x="\#(format(legendX))" y="\#(format(legendY))" fill="\#(line.color)">\#(escape(line.name))</text>"#
        }
        return svg + "</svg>"
    }

    /// Bars for a latency distribution: one bar per logarithmic bucket, labelled by its upper bound.
    static func bars(_ buckets: [(upperMilliseconds: Double, count: Int)], title: String, color: String) -> String {
        let peak = Double(Swift.max(buckets.map(\.count).max() ?? 0, 1))
        let scaleTop = niceCeiling(peak)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func y(_ value: Double) -> Double { top + plotHeight - value / scaleTop * plotHeight }
        let slot = plotWidth / Double(Swift.max(buckets.count, 1))
        var svg = header(title)
        svg += axes(yTicks: (0...4).map { scaleTop * Double($0) / 4 }, y: y, unit: "")
        for (index, bucket) in buckets.enumerated() {
            let barX = left + Double(index) * slot + slot * 0.1
            let barTop = y(Double(bucket.count))
            svg += #"<rect x="\#(format(barX))" y="\#(format(barTop))" width="\#(format(slot * 0.8))" height="\#(format(top + plotHeight - barTop))" fill="\#(color)"><title>≤ \#(format(bucket.upperMilliseconds)) ms: \#(bucket.count)</title></rect>"#
            if buckets.count <= 12 || index % Swift.max(1, buckets.count / 10) == 0 {
                svg += #"<text class="tick" x="\#(format(barX + slot * 0.4))" y="\#(format(height - bottom + 16))" text-anchor="middle">\#(format(bucket.upperMilliseconds))</text>"#
            }
        }
        svg += #"<text class="tick" x="\#(format(width - right))" y="\#(format(height - 4))" text-anchor="end">latency, ms (upper bound of each bucket)</text>"#
        return svg + "</svg>"
    }

    private static func header(_ title: String) -> String {
        #"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \#(Int(width)) \#(Int(height))" role="img" aria-label="\#(escape(title))">"#
    }

    private static func axes(yTicks: [Double], y: (Double) -> Double, unit: String) -> String {
        var svg = #"<line class="axis" x1="\#(left)" y1="\#(top)" x2="\#(left)" y2="\#(height - bottom)"/>"#
        svg += #"<line class="axis" x1="\#(left)" y1="\#(height - bottom)" x2="\#(width - right)" y2="\#(height - bottom)"/>"#
        for tick in yTicks {
            svg += #"<line class="grid" x1="\#(left)" y1="\#(format(y(tick)))" x2="\#(width - right)" y2="\#(format(y(tick)))"/>"#
            svg += #"<text class="tick" x="\#(left - 6)" y="\#(format(y(tick) + 4))" text-anchor="end">\#(short(tick))\#(unit)</text>"#
        }
        return svg
    }

    /// 1, 2 or 5 times a power of ten, at least `value`.
    static func niceCeiling(_ value: Double) -> Double {
        var magnitude = 1.0
        while magnitude * 10 <= value { magnitude *= 10 }
        while magnitude > value { magnitude /= 10 }
        for step in [1.0, 2, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    /// 1200 → 1.2k, 3000000 → 3M.
    static func short(_ value: Double) -> String {
        switch value {
        case 1_000_000...: return FleetMarkdownReport.format(value / 1_000_000) + "M"
        case 1_000...: return FleetMarkdownReport.format(value / 1_000) + "k"
        default: return FleetMarkdownReport.format(value)
        }
    }

    static func format(_ value: Double) -> String { FleetMarkdownReport.format(value) }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
