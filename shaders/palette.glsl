#version 330 core
// Harmony palette: the 12 pitch-class energies (u_chroma, C first) become a colour. Each pitch
// class has a hue around the colour wheel in circle-of-fifths order, so related chords get
// related colours; the energies are summed as vectors on the wheel: one note gives its own
// saturated hue, a dense chord a weaker pull. The picture's brightness is kept, its colour
// pulled towards that hue (not at all when the chroma is flat).
in vec2 v_uv;
out vec4 f_color;

uniform sampler2D u_image;
uniform float u_chroma[12];
uniform float u_amount = 0.8; // @param 0..1 how strongly the picture takes the harmony's colour
uniform float u_spread = 0.2; // @param 0..1 how far the hue wanders with the picture's brightness
uniform float u_rotate = 0.0; // @param 0..1 turns the whole wheel (which key is red)

const float TAU = 6.28318530718;

vec3 hue_rgb(float h) {
    return clamp(abs(mod(h * 6.0 + vec3(0.0, 4.0, 2.0), 6.0) - 3.0) - 1.0, 0.0, 1.0);
}

void main() {
    vec2 wheel = vec2(0.0);
    float total = 0.0;
    for (int k = 0; k < 12; k++) {
        float angle = TAU * float((k * 7) % 12) / 12.0;  // circle of fifths
        wheel += u_chroma[k] * vec2(cos(angle), sin(angle));
        total += u_chroma[k];
    }
    float saturation = total > 1e-4 ? clamp(length(wheel) / total, 0.0, 1.0) : 0.0;
    float hue = atan(wheel.y, wheel.x) / TAU + u_rotate;
    vec3 c = texture(u_image, v_uv).rgb;
    float luma = dot(c, vec3(0.2126, 0.7152, 0.0722));
    vec3 tint = hue_rgb(fract(hue + u_spread * (luma - 0.5)));
    // Same brightness as the picture (no gain: in a feedback chain a gain would run away).
    vec3 coloured = tint * (luma / max(dot(tint, vec3(0.2126, 0.7152, 0.0722)), 0.05));
    // A clear chord pulls hard, a dense one less (the square root keeps real music's blurred
    // chroma visible), and the pull raises the saturation too; no clear harmony (silence, drums
    // only: a flat chroma) leaves the picture's own colours.
    float pull = u_amount * sqrt(saturation);
    vec3 toned = mix(c, coloured, pull);
    float l2 = dot(toned, vec3(0.2126, 0.7152, 0.0722));
    f_color = vec4(clamp(mix(vec3(l2), toned, 1.0 + 0.6 * pull), 0.0, 1.0), 1.0);
}
