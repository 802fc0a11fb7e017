// 中文搜索。
//
// mdBook 0.5.4 的内置搜索按空格切词，再用英文的规则修剪每个词，中文词因此全部落空：
// 搜“套接字”什么也找不到（上游问题 rust-lang/mdBook#1081）。但 mdBook 生成的搜索索引
// （searchindex.js）里保存着每一节的标题和正文。这个脚本在查询里含有中日韩文字时，
// 接手搜索：在这些正文里按子串查找每个词（用空格隔开的几个词须同时出现），
// 按出现次数排序，用和 mdBook 相同的样式列出结果和上下文。英文查询仍交给 mdBook。
// 一切都在浏览器里完成，不访问网络，离线也能用。
'use strict';

/* global path_to_root */

(function searchCjk() {
    const bar = document.getElementById('mdbook-searchbar');
    const list = document.getElementById('mdbook-searchresults');
    const header = document.getElementById('mdbook-searchresults-header');
    const outer = document.getElementById('mdbook-searchresults-outer');
    if (!bar || !list || !header || !outer) {
        return; // 搜索被关闭了
    }

    // 平假名、片假名、中日韩统一表意文字（含扩展 A 和兼容区）、全角符号
    const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]/;
    const CONTEXT_BEFORE = 24;
    const CONTEXT_AFTER = 60;
    let written = null; // 本脚本最后一次写进 header 的文字

    function escapeHtml(text) {
        return text.replace(/[&<>"']/g, c => ({
            '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;',
        })[c]);
    }

    function count(haystack, needle) {
        let n = 0;
        for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) {
            n++;
        }
        return n;
    }

    // 在正文里找第一个出现的词，以它为中心截一段，把所有词标成 <em>。
    // 词只出现在标题里时，从正文开头截取（标题就显示在链接上）。
    function teaser(body, terms) {
        const lower = body.toLowerCase();
        const term = terms.find(t => lower.includes(t)) || '';
        const at = term ? lower.indexOf(term) : 0;
        const start = Math.max(0, at - CONTEXT_BEFORE);
        const end = Math.min(body.length, at + term.length + CONTEXT_AFTER);
        const piece = body.slice(start, end);
        const pieceLower = piece.toLowerCase();
        // 标记每个词出现的区间，再按区间拼出 HTML
        const marks = new Array(piece.length).fill(false);
        for (const term of terms) {
            for (let i = pieceLower.indexOf(term); i !== -1; i = pieceLower.indexOf(term, i + 1)) {
                marks.fill(true, i, i + term.length);
            }
        }
        let html = start > 0 ? '…' : '';
        let i = 0;
        while (i < piece.length) {
            let j = i;
            while (j < piece.length && marks[j] === marks[i]) {
                j++;
            }
            const text = escapeHtml(piece.slice(i, j));
            html += marks[i] ? '<em>' + text + '</em>' : text;
            i = j;
        }
        return html + (end < body.length ? '…' : '');
    }

    function search() {
        const query = bar.value.trim();
        if (!CJK.test(query)) {
            return; // 不含中文：mdBook 自己的搜索能处理
        }
        const config = window.search;
        if (!config || !config.index || !config.doc_urls) {
            return; // 索引还没加载完；加载后 mdBook 会写 header，届时再来
        }
        const docs = config.index.documentStore.docs;
        const terms = query.toLowerCase().split(/\s+/).filter(t => t !== '');
        const found = [];
        for (const ref of Object.keys(docs)) {
            const doc = docs[ref];
            const title = (doc.title || '').toLowerCase();
            const crumbs = (doc.breadcrumbs || '').toLowerCase();
            const body = (doc.body || '').toLowerCase();
            let score = 0;
            let all = true;
            for (const term of terms) {
                const hits = [count(title, term), count(crumbs, term), count(body, term)];
                if (hits[0] + hits[1] + hits[2] === 0) {
                    all = false;
                    break;
                }
                score += hits[0] * 10 + hits[1] * 2 + hits[2];
            }
            if (all) {
                found.push({ref: Number(ref), doc, score});
            }
        }
        found.sort((a, b) => b.score - a.score || a.ref - b.ref);
        const limit = (config.results_options || {}).limit_results || 30;
        const shown = found.slice(0, limit);

        const mark = encodeURIComponent(terms.join(' ')).replace(/'/g, '%27');
        const items = shown.map((result, n) => {
            const [page, anchor] = config.doc_urls[result.ref].split('#');
            const href = path_to_root + page + '?highlight=' + mark + (anchor ? '#' + anchor : '');
            const body = result.doc.body || result.doc.title || '';
            return '<li><a href="' + escapeHtml(href) + '" aria-details="cjk-teaser-' + n + '">'
                + escapeHtml(result.doc.breadcrumbs || result.doc.title || page) + '</a>'
                + '<span class="teaser" id="cjk-teaser-' + n + '">' + teaser(body, terms) + '</span></li>';
        });
        written = shown.length === 0
            ? '没有找到“' + query + '”。'
            : '找到 ' + found.length + ' 个含有“' + query + '”的小节'
                + (found.length > shown.length ? '，显示前 ' + shown.length + ' 个' : '') + '：';
        header.textContent = written;
        list.innerHTML = items.join('');
        outer.classList.remove('hidden');
    }

    // mdBook 在 keyup 时搜索并改写 header；它改写之后（包括索引刚加载完时），本脚本接手。
    new MutationObserver(() => {
        if (header.textContent !== written) {
            search();
        }
    }).observe(header, {childList: true, characterData: true, subtree: true});
    // 输入法上屏时不一定有 keyup：也听 input。
    bar.addEventListener('input', search);
    bar.addEventListener('keyup', search);
    // 打开带 ?search=… 的地址时，索引可能在本脚本运行之前就已加载完、mdBook 也已搜索过：
    // 这时不会再有改写可观察，所以现在就搜一次。
    search();
})();
