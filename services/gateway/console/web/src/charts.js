// charts.js draws with Apache ECharts, importing only the chart types and components the
// console uses so the bundle stays small. Charts made for a page are disposed when the
// next page renders.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, HeatmapChart, ScatterChart, CandlestickChart } from 'echarts/charts';
import {
  GridComponent, TooltipComponent, LegendComponent, VisualMapComponent, TitleComponent, MarkLineComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from './dom.js';

echarts.use([
  BarChart, LineChart, HeatmapChart, ScatterChart, CandlestickChart,
  GridComponent, TooltipComponent, LegendComponent, VisualMapComponent, TitleComponent, MarkLineComponent,
  CanvasRenderer,
]);

const live = new Set();

window.addEventListener('resize', () => live.forEach((c) => c.resize()));

// disposeCharts disposes every chart of the page being left.
export function disposeCharts() {
  live.forEach((c) => c.dispose());
  live.clear();
}

export const palette = ['#2f6fde', '#18a058', '#f0a020', '#d03050', '#7c4dff', '#0e9aa7', '#8a8a8a'];

// chart returns a container holding a chart drawn with option; height in pixels.
// Animation is off so that what a screenshot shows is what the data says.
export function chart(option, height = 300, id) {
  const el = h('div', { class: 'chart', id, style: 'height:' + height + 'px' });
  // The element must be in the document to have a size: draw once it is, giving up
  // after a few seconds for an element that never made it there.
  let frames = 0;
  const draw = () => {
    if (!el.isConnected) {
      if (++frames < 300) requestAnimationFrame(draw);
      return;
    }
    const c = echarts.init(el, null, { renderer: 'canvas' });
    // Legends sit above the plot, clear of the axis labels.
    const legend = option.legend ? { top: 0, ...option.legend } : undefined;
    c.setOption({ animation: false, color: palette, tooltip: { trigger: 'axis' }, ...option, legend });
    el.dataset.ready = 'true';
    live.add(c);
  };
  requestAnimationFrame(draw);
  return el;
}
